package harness

// CellRecord is one line of the load command's raw output: a cell's client
// figures and the server process's usage over the timed runs, summed over
// the repetitions.
type CellRecord struct {
	Contender string `json:"contender"`
	Encoding  string `json:"encoding"` // "identity" or "gzip": what the client asked for
	Conns     int    `json:"conns"`
	Series    int    `json:"series"`
	Reps      int    `json:"reps"` // repetitions summed in this record

	Requests   uint64  `json:"requests"`
	Errors     uint64  `json:"errors"`
	ElapsedSec float64 `json:"elapsed_s"`
	RPS        float64 `json:"rps"`
	P50us      float64 `json:"p50_us"`
	P99us      float64 `json:"p99_us"`
	MaxUs      float64 `json:"max_us"`
	BodyBytes  float64 `json:"body_bytes_per_req"`
	Served     string  `json:"served_encoding"` // Content-Encoding of the answers

	CPUusPerReq      float64 `json:"server_cpu_us_per_req"`
	AllocsPerReq     float64 `json:"server_allocs_per_req"`
	AllocBytesPerReq float64 `json:"server_alloc_bytes_per_req"`
	ServerGCs        uint32  `json:"server_gcs"`
	ServerCPUCores   float64 `json:"server_cpu_cores"` // server CPU time / elapsed

	DocBytes  int `json:"komachi_doc_bytes"`
	GzipBytes int `json:"komachi_gzip_bytes"`
}
