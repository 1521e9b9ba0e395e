# mnistd: build, install, package. `make install` needs root for the default paths.
#   make                 release build (binaries in .build/release)
#   make install         PREFIX=/usr/local; units to /etc/systemd/system
#   make uninstall       removes what install put in place (never /var/lib/mnistd)
#   make deb             mnistd_$(VERSION)_amd64.deb with debhelper (debian/), portable (AVX2 + FMA)
#   make test            the test suite (what .ci/run runs)
#   make fuzz            libFuzzer over each untrusted-input target (inputs, weights, dataset), each
#                        FUZZ_SECONDS long (default 600); a crashing input lands in
#                        Tests/FuzzCorpus/<target>/, which `swift test` replays

VERSION      := $(shell sed -n 's/^public let mnistdVersion = "\(.*\)"$$/\1/p' Sources/ControlProtocol/Version.swift)
PREFIX       ?= /usr/local
DESTDIR      ?=
BINDIR       := $(PREFIX)/bin
DATADIR      := $(PREFIX)/share/mnistd
MANDIR       := $(PREFIX)/share/man
BASHCOMPDIR  := $(PREFIX)/share/bash-completion/completions
ZSHCOMPDIR   := $(PREFIX)/share/zsh/vendor-completions
FISHCOMPDIR  := $(PREFIX)/share/fish/vendor_completions.d
SYSCONFDIR   ?= /etc
UNITDIR      ?= /etc/systemd/system
SYSUSERSDIR  ?= /etc/sysusers.d
TMPFILESDIR  ?= /etc/tmpfiles.d
SCRATCH      ?= .build
SWIFTFLAGS   ?=
# A portable binary needs a CPU floor the kernels are compiled for (see the README).
export MNISTD_TARGET_CPU ?= native

RELEASE   := $(SCRATCH)/release
GENERATED := $(SCRATCH)/generated

.PHONY: all build man completions install uninstall deb test fuzz print-version

all: build

# Swift's runtime is linked in, and no run path is set (neither into the toolchain nor at the
# binary's own directory): installed binaries keep working when /opt/swift is gone. Symbols
# are bound at start (BIND_NOW), so the relocations can be made read-only.
build:
	swift build -c release --scratch-path $(SCRATCH) --static-swift-stdlib --disable-local-rpath -Xswiftc -no-toolchain-stdlib-rpath \
		-Xlinker -z -Xlinker now $(SWIFTFLAGS)

# The manuals are written by hand (man/); only the version is filled in.
man:
	mkdir -p $(GENERATED)/man
	sed 's/@VERSION@/$(VERSION)/' man/mnistd.8 > $(GENERATED)/man/mnistd.8
	sed 's/@VERSION@/$(VERSION)/' man/mnistctl.1 > $(GENERATED)/man/mnistctl.1

completions: build
	mkdir -p $(GENERATED)/completions
	# A completion script is sourced, not run: no #! line (lintian: bash-completion-with-hashbang).
	$(RELEASE)/mnistctl --generate-completion-script bash | sed '1{/^#!/d}' > $(GENERATED)/completions/mnistctl.bash
	$(RELEASE)/mnistctl --generate-completion-script zsh > $(GENERATED)/completions/_mnistctl
	$(RELEASE)/mnistctl --generate-completion-script fish > $(GENERATED)/completions/mnistctl.fish

install: build man completions
	install -D -m 0755 $(RELEASE)/mnistd $(DESTDIR)$(BINDIR)/mnistd
	install -D -m 0755 $(RELEASE)/mnistctl $(DESTDIR)$(BINDIR)/mnistctl
	install -D -m 0644 Sources/NeuralNet/DefaultWeights/mnist-cnn.weights $(DESTDIR)$(DATADIR)/mnist-cnn.weights
	install -D -m 0644 Sources/NeuralNet/DefaultWeights/mnist-cnn.weights.sha256 $(DESTDIR)$(DATADIR)/mnist-cnn.weights.sha256
	install -D -m 0644 $(GENERATED)/man/mnistd.8 $(DESTDIR)$(MANDIR)/man8/mnistd.8
	install -D -m 0644 $(GENERATED)/man/mnistctl.1 $(DESTDIR)$(MANDIR)/man1/mnistctl.1
	install -D -m 0644 $(GENERATED)/completions/mnistctl.bash $(DESTDIR)$(BASHCOMPDIR)/mnistctl
	install -D -m 0644 $(GENERATED)/completions/_mnistctl $(DESTDIR)$(ZSHCOMPDIR)/_mnistctl
	install -D -m 0644 $(GENERATED)/completions/mnistctl.fish $(DESTDIR)$(FISHCOMPDIR)/mnistctl.fish
	mkdir -p $(DESTDIR)$(UNITDIR)
	sed 's#/usr/local/bin/mnistd#$(BINDIR)/mnistd#' systemd/mnistd.service > $(DESTDIR)$(UNITDIR)/mnistd.service
	install -m 0644 systemd/mnistd.socket $(DESTDIR)$(UNITDIR)/mnistd.socket
	sed -f 'systemd/mnistd@.service.sed' $(DESTDIR)$(UNITDIR)/mnistd.service > '$(DESTDIR)$(UNITDIR)/mnistd@.service'
	install -D -m 0644 systemd/mnistd.sysusers $(DESTDIR)$(SYSUSERSDIR)/mnistd.conf
	install -D -m 0644 systemd/mnistd.tmpfiles $(DESTDIR)$(TMPFILESDIR)/mnistd.conf
	# An administrator's configuration is never overwritten.
	test -e $(DESTDIR)$(SYSCONFDIR)/mnistd/mnistd.conf || install -D -m 0644 systemd/mnistd.conf $(DESTDIR)$(SYSCONFDIR)/mnistd/mnistd.conf
	if [ -z "$(DESTDIR)" ] && [ -d /run/systemd/system ]; then \
		systemd-sysusers $(SYSUSERSDIR)/mnistd.conf && systemd-tmpfiles --create $(TMPFILESDIR)/mnistd.conf && systemctl daemon-reload; \
	fi

uninstall:
	-if [ -z "$(DESTDIR)" ] && [ -d /run/systemd/system ]; then systemctl disable --now mnistd.service mnistd.socket; fi
	rm -f $(DESTDIR)$(BINDIR)/mnistd $(DESTDIR)$(BINDIR)/mnistctl
	rm -f $(DESTDIR)$(DATADIR)/mnist-cnn.weights $(DESTDIR)$(DATADIR)/mnist-cnn.weights.sha256
	-rmdir $(DESTDIR)$(DATADIR)
	rm -f $(DESTDIR)$(MANDIR)/man8/mnistd.8 $(DESTDIR)$(MANDIR)/man1/mnistctl.1
	rm -f $(DESTDIR)$(BASHCOMPDIR)/mnistctl $(DESTDIR)$(ZSHCOMPDIR)/_mnistctl $(DESTDIR)$(FISHCOMPDIR)/mnistctl.fish
	rm -f $(DESTDIR)$(UNITDIR)/mnistd.service $(DESTDIR)$(UNITDIR)/mnistd.socket '$(DESTDIR)$(UNITDIR)/mnistd@.service'
	rm -f $(DESTDIR)$(SYSUSERSDIR)/mnistd.conf $(DESTDIR)$(TMPFILESDIR)/mnistd.conf
	# The configuration goes only if it is still the shipped one; the state directory stays.
	if cmp -s systemd/mnistd.conf $(DESTDIR)$(SYSCONFDIR)/mnistd/mnistd.conf; then rm -f $(DESTDIR)$(SYSCONFDIR)/mnistd/mnistd.conf; fi
	-rmdir $(DESTDIR)$(SYSCONFDIR)/mnistd
	-if [ -z "$(DESTDIR)" ] && [ -d /run/systemd/system ]; then systemctl daemon-reload; fi

DEB := mnistd_$(VERSION)_amd64.deb

# debian/rules builds with this Makefile (scratch .build-deb) and leaves the packages there.
deb:
	debian/rules clean
	debian/rules binary
	cp .build-deb/$(DEB) $(DEB)

# The version, as the package and both binaries give it (Sources/ControlProtocol/Version.swift).
print-version:
	@echo $(VERSION)

test:
	swift test

FUZZ_SECONDS ?= 600
FUZZ_TARGETS ?= inputs weights dataset replies names
FUZZ_WORK    := $(SCRATCH)-fuzz/corpus

# Each target runs FUZZ_SECONDS from its working corpus (libFuzzer adds to it) and its seeds;
# Swift's own crash handler is off, so that libFuzzer keeps the crashing input.
fuzz:
	swift build -c release --scratch-path $(SCRATCH)-fuzz --product mnist-fuzz \
		-Xswiftc -sanitize=fuzzer,address -Xswiftc -DFUZZING
	for target in $(FUZZ_TARGETS); do \
		mkdir -p $(FUZZ_WORK)/$$target && \
		seeds="Tests/FuzzCorpus/$$target"; \
		if [ $$target = inputs ]; then seeds="$$seeds samples ../shared/testdata/png/pngsuite"; fi; \
		MNIST_FUZZ_TARGET=$$target SWIFT_BACKTRACE=enable=no $(SCRATCH)-fuzz/release/mnist-fuzz $(FUZZ_WORK)/$$target $$seeds \
			-max_total_time=$(FUZZ_SECONDS) -max_len=65536 -rss_limit_mb=2048 -timeout=10 \
			-artifact_prefix=Tests/FuzzCorpus/$$target/ || exit 1; \
	done
