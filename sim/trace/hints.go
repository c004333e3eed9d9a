package trace

// companion says what a file that is not a trace is, when its header is
// one a trace's dataset publishes beside the jobs (a node list, a
// utilisation log), and which file to load instead; "" when unknown.
func companion(header []string) string {
	const sizes = " it sizes on-prem (--onprem-gpus) but lists no jobs:"
	switch {
	case len(header) > 2 && header[0] == "date" && header[len(header)-1] == "total":
		return "this looks like SenseTime Helios' GPUs per virtual cluster by day;" + sizes + " load cluster_log.csv, or a <vc>_sequence.csv"
	case hasColumns(header, "machineid", "number of gpus"):
		return "this looks like Philly's machine list;" + sizes + " load cluster_job_log"
	case hasColumns(header, "time", "machineid"):
		return "this looks like Philly's utilisation log, which lists no jobs: load cluster_job_log"
	case hasColumns(header, "sn", "gpu", "model"):
		return "this looks like a node list of Alibaba's 2023 trace (openb_node_list);" + sizes + " load an openb_pod_list_*.csv"
	case hasColumns(header, "node_name", "gpu_capacity_num"):
		return "this looks like the node list of Alibaba's 2026 spot trace (node_info_df.csv);" + sizes + " load job_info_df.csv"
	case hasColumns(header, "jobid", "submit") && (hasColumns(header, "elapsed") || hasColumns(header, "elapsedraw")):
		return "sacct's log needs the jobs' GPUs: add AllocTRES (or ReqTRES) to --format"
	case hasColumns(header, "jobid", "submit"):
		return "sacct's log needs the jobs' run times: add Elapsed (or ElapsedRaw) to --format"
	}
	return ""
}
