"""The `tkms` console script: the Rust command line, with the binary's signal behaviour."""

import signal
import sys

from . import _native


def main() -> None:
    # Python turns SIGINT into KeyboardInterrupt; the binary dies of it (or, in `tkms serve`,
    # stops gracefully through its own handler). Give the command line the binary's dispositions.
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    sys.stdout.flush()
    sys.exit(_native.run(sys.argv))


if __name__ == "__main__":
    main()
