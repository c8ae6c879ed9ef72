# Thin wrappers over scripts/ (the scripts are the source of truth).
.PHONY: demo test build clean
demo:
	bash scripts/demo
test:
	bash scripts/test
build:
	bash scripts/install-deps && bash scripts/build build
clean:
	rm -rf build build-asan build-tsan build-perf
