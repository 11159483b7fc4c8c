from filebridge.cli.main import main

raise SystemExit(main())
