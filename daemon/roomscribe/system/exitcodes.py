"""Process exit codes, after sysexits.h (documented in the README and docs/systemd.md; a test keeps them in
step). systemd's RestartPreventExitStatus= in the shipped units uses CONFIG."""

OK = 0
FAILURE = 1  # an unexpected error (a crash); a remote command refused by the daemon
USAGE = 64  # EX_USAGE: bad command line (argparse's own 2 is turned into this)
NOINPUT = 66  # EX_NOINPUT: no such meeting in the journal
UNAVAILABLE = 69  # EX_UNAVAILABLE: a remote command got no answer; an optional part (PyAudio, an extra) is not installed
CANT_CREATE = 73  # EX_CANTCREAT: an output file cannot be written (`emulator synth -o`, `export -o`)
IOERR = 74  # EX_IOERR: the journal cannot be read (or written, by forget)
CONFIG = 78  # EX_CONFIG: the configuration is invalid or the state directory unusable; restarting will not help
