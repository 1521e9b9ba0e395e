/// The version of mnistd and mnistctl: what `--version` prints, what `status` reports, and
/// (read from here by the Makefile) the Debian package's version. Written nowhere else.
public let mnistdVersion = "0.2.0"
