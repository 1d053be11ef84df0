from skiff.cli import main

raise SystemExit(main())
