# Herald: `make run` starts the demo, `make test` runs every test.
# Both install the wasm32-wasip2 target if missing and build the plugins first.

CARGO ?= cargo
PLUGIN_DIR := target/plugins
ADAPTERS := webhook pagerduty slack rootly alertmanager example

.PHONY: run demo test plugins setup fmt lint bench

setup:
	@rustup target list --installed | grep -qx wasm32-wasip2 || rustup target add wasm32-wasip2

# Builds every guest (adapters and the test guests) and copies the adapters
# into $(PLUGIN_DIR) as <kind>.wasm, where the daemon and demo look for them.
plugins: setup
	cd plugins && $(CARGO) build --release --workspace
	@mkdir -p $(PLUGIN_DIR)
	@for k in $(ADAPTERS); do cp target/wasm32-wasip2/release/herald_plugin_$$k.wasm $(PLUGIN_DIR)/$$k.wasm; done

# Starts a capture sink on 127.0.0.1:9099 (where the example targets in
# config/targets deliver) and Herald on 127.0.0.1:9300; Ctrl-C stops both.
run: plugins
	$(CARGO) build -p herald
	@./target/debug/herald sink --listen 127.0.0.1:9099 & sink=$$!; \
	  trap 'kill $$sink 2>/dev/null' EXIT INT TERM; \
	  ./target/debug/herald serve --config config/herald.toml

# The one-shot demo of the publisher: one alert, three local mock targets.
demo: plugins
	$(CARGO) run -p herald -- demo --plugins $(PLUGIN_DIR)

# Native unit tests of the plugins, then every host test (one nextest run,
# which also builds the `herald` binary the black-box tests start), then every
# adapter's golden cases through `herald plugin test`.
test: plugins
	cd plugins && $(CARGO) test --target x86_64-unknown-linux-gnu --workspace
	$(CARGO) nextest run --workspace --no-fail-fast
	@for k in $(ADAPTERS); do ./target/debug/herald plugin test $(PLUGIN_DIR)/$$k.wasm plugins/$$k/cases || exit 1; done

fmt:
	$(CARGO) fmt --all
	cd plugins && $(CARGO) fmt --all

lint:
	$(CARGO) fmt --all -- --check
	cd plugins && $(CARGO) fmt --all -- --check
	$(CARGO) clippy --workspace --all-targets -- -D warnings
	cd plugins && $(CARGO) clippy --release --workspace -- -D warnings

bench: plugins
	$(CARGO) bench -p herald-benches
