// Package domain is the pure placement model of Ballast: the cluster of
// storage nodes and disks, the reservations that placed replicas hold on
// them, and Place, the planner that decides where the replicas of a volume
// live.
//
// Place is shaped like Nomad's scheduler: feasibility checks drop nodes that
// break a hard constraint (state, topology, labels, tier, free space), rank
// scorers give every remaining node a score in [0,1] per soft goal, and a
// selector picks the best node in as many distinct failure domains as the
// volume asks for. The Decision summarises how the cluster fared (the best
// few candidates with their scores, and how many nodes each kind of reason
// rejected), which stays small at any fleet size; WithCandidates adds the full
// table of every node with its scores or the reason it was dropped, so that
// `explain` can answer "why here?" and "why not there?".
//
// The package does no I/O and keeps no clock: the service feeds it events and
// persists what it decides. Place never mutates the Cluster; only Reserve,
// Release and Resize change what is held on a disk.
package domain
