from livingreview.review.audit.pins import main

raise SystemExit(main())
