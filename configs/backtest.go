package configs

import _ "embed"

// BacktestYAML is examples/backtest.yaml, the config `spillway simulate`
// backtests when given no --config.
//
//go:embed examples/backtest.yaml
var BacktestYAML []byte

// DefaultTraceName names DefaultTraceCSV, the bundled trace `spillway
// simulate` replays when given no --trace (see traces/README.md for its
// source and licence).
const DefaultTraceName = "itp/cluster02.csv"

// DefaultTraceCSV is traces/itp/cluster02.csv: Microsoft ITP cluster 2,
// 5,778 jobs over 60 days (MIT licence, traces/itp/LICENSE).
//
//go:embed traces/itp/cluster02.csv
var DefaultTraceCSV []byte
