from lbctl.cli.main import main

main()
