import sys

from hls.cli import main

sys.exit(main())
