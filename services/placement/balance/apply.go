package balance

import "slices"

// Apply returns the model as it is once the moves are made: each moved
// replica on its target, carrying the same load. m is not changed. A move
// naming a replica the model does not hold is passed over.
func Apply(m Model, moves []Move) Model {
	out := m
	out.Volumes = slices.Clone(m.Volumes)
	at := make(map[string]int, len(m.Volumes))
	for i, v := range out.Volumes {
		at[v.ID] = i
	}
	cloned := map[int]bool{}
	for _, mv := range moves {
		vi, ok := at[mv.VolumeID]
		if !ok {
			continue
		}
		v := &out.Volumes[vi]
		if !cloned[vi] {
			v.Replicas = slices.Clone(v.Replicas)
			cloned[vi] = true
		}
		for ri := range v.Replicas {
			if r := &v.Replicas[ri]; r.ID == mv.ReplicaID {
				r.NodeID, r.DiskID = mv.To.NodeID, mv.To.DiskID
			}
		}
	}
	return out
}
