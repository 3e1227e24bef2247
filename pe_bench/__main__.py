from pe_bench.entry import main

main()
