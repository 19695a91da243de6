from roomscribe.cli import main

raise SystemExit(main())
