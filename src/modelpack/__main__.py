from modelpack.cli.main import main

main()
