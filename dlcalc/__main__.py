from dlcalc.cli import main

main()
