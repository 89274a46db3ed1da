from perf_tasks.cli import main

raise SystemExit(main())
