from lbctl.cli.entry import main

main()
