package domain

import (
	"slices"
	"testing"
)

func TestSelectReplicas(t *testing.T) {
	// cand builds a feasible candidate; domain and zone are numbers, as
	// the cluster assigns them.
	cand := func(id string, total float64, domain, zone int) ranked {
		return ranked{id: id, total: total, domain: domain, zone: zone}
	}
	for _, tc := range []struct {
		name      string
		cands     []ranked
		want      int
		spread    SpreadLevel
		domains   int
		zones     int
		heldZones []bool
		picked    []string
	}{
		{
			name: "zone spread takes the best node of the best zones",
			cands: []ranked{
				cand("a1", 0.5, 0, 0), cand("a2", 0.9, 0, 0),
				cand("b1", 0.7, 1, 1), cand("c1", 0.6, 2, 2), cand("d1", 0.1, 3, 3),
			},
			want: 3, spread: SpreadZone, domains: 4, zones: 4,
			picked: []string{"a2", "b1", "c1"},
		},
		{
			name:  "zone spread stops short when zones run out",
			cands: []ranked{cand("a1", 0.9, 0, 0), cand("a2", 0.8, 0, 0), cand("b1", 0.1, 1, 1)},
			want:  3, spread: SpreadZone, domains: 2, zones: 2,
			picked: []string{"a1", "b1"},
		},
		{
			name:  "ties break by node id",
			cands: []ranked{cand("n3", 0.5, 2, 0), cand("n1", 0.5, 0, 0), cand("n2", 0.5, 1, 0)},
			want:  2, spread: SpreadNode, domains: 3, zones: 1,
			picked: []string{"n1", "n2"},
		},
		{
			name:  "node spread prefers a new zone over a better node in a used zone",
			cands: []ranked{cand("n1", 0.9, 0, 0), cand("n2", 0.8, 1, 0), cand("n3", 0.1, 2, 1)},
			want:  2, spread: SpreadNode, domains: 3, zones: 2,
			picked: []string{"n1", "n3"},
		},
		{
			name:  "node spread shares a zone when it must, best first",
			cands: []ranked{cand("n1", 0.9, 0, 0), cand("n2", 0.8, 1, 0), cand("n3", 0.1, 2, 1)},
			want:  3, spread: SpreadNode, domains: 3, zones: 2,
			picked: []string{"n1", "n2", "n3"},
		},
		{
			name:  "node spread avoids zones of existing replicas first",
			cands: []ranked{cand("n1", 0.9, 0, 0), cand("n3", 0.1, 1, 1)},
			want:  1, spread: SpreadNode, domains: 2, zones: 2, heldZones: []bool{true, false},
			picked: []string{"n3"},
		},
		{
			name:  "node spread falls back to a held zone",
			cands: []ranked{cand("n1", 0.9, 0, 0), cand("n3", 0.1, 1, 1)},
			want:  2, spread: SpreadNode, domains: 2, zones: 2, heldZones: []bool{true, false},
			picked: []string{"n1", "n3"},
		},
		{
			name: "region spread",
			cands: []ranked{
				cand("n1", 0.9, 0, 0), cand("n2", 0.8, 0, 1), cand("n3", 0.2, 1, 2),
			},
			want: 2, spread: SpreadRegion, domains: 2, zones: 3,
			picked: []string{"n1", "n3"},
		},
		{name: "nothing to pick", want: 1, spread: SpreadZone, domains: 3, zones: 3, picked: nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := selectReplicas(tc.cands, tc.want, tc.spread, tc.domains, tc.zones, tc.heldZones)
			var ids []string
			for _, i := range got {
				ids = append(ids, tc.cands[i].id)
			}
			if !slices.Equal(ids, tc.picked) {
				t.Errorf("picked %v, want %v", ids, tc.picked)
			}
		})
	}
}
