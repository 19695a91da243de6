"""Process exit codes (documented in the README; systemd's RestartPreventExitStatus uses CONFIG)."""

OK = 0
FAILURE = 1  # a fatal runtime error (audio source gone for good, unexpected crash)
USAGE = 64  # EX_USAGE: bad command line
NOINPUT = 66  # EX_NOINPUT: no archive, or no such meeting in it
UNAVAILABLE = 69  # EX_UNAVAILABLE: a remote command got no answer (broker or daemon unreachable)
CANTCREAT = 73  # EX_CANTCREAT: an output file cannot be written
IOERR = 74  # EX_IOERR: the archive cannot be read
CONFIG = 78  # EX_CONFIG: the configuration is invalid; restarting will not help
