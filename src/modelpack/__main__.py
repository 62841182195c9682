from modelpack.cli.entry import main

main()
