package readmodel_test

import (
	"testing"

	"ballast.dev/gateway/readmodel"
	"ballast.dev/gateway/readmodel/readmodeltest"
)

func TestMemoryVolumes(t *testing.T) {
	t.Parallel()
	readmodeltest.VolumeStore(t, func(*testing.T) readmodel.VolumeStore { return readmodel.NewMemoryVolumes() })
}

func TestMemoryNodes(t *testing.T) {
	t.Parallel()
	readmodeltest.NodeStore(t, func(*testing.T) readmodel.NodeStore { return readmodel.NewMemoryNodes() })
}
