from dockovn.cli.main import main

main()
