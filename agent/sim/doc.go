// Package sim is the simulated storage backend of the Ballast agent: a model
// of a node's disks (capacity, IOPS, bandwidth, latency that grows with
// utilisation) and of the workloads its replicas carry (steady, diurnal,
// bursty, injected hotspots).
//
// Everything is deterministic: a fleet is a function of its seed, and a
// node's telemetry is a function of its seed, the calls made on it and the
// time passed to Sample. No wall clock, global random source or I/O is used,
// so one process can simulate thousands of nodes and tests can replay them.
// Give every node of a fleet the same seed so that a replica's workload
// follows it when it moves to another node.
package sim
