package command

// Command subjects: the requests each service serves. They are part of the
// contract between services, so they are named once, here.
const (
	VolumeCreate  = "ballast.cmd.volume.create"  // CreateVolumeRequest → CommandReply
	VolumeResize  = "ballast.cmd.volume.resize"  // ResizeVolumeRequest → CommandReply
	VolumeDelete  = "ballast.cmd.volume.delete"  // DeleteVolumeRequest → CommandReply
	VolumeRepair  = "ballast.cmd.volume.repair"  // RepairVolumeRequest → CommandReply
	MigrationList = "ballast.cmd.migration.list" // Empty → UInt64Value (migrations in the log)

	PlacementExplain = "ballast.cmd.placement.explain" // ExplainPlacementRequest (name: the volume id) → ExplainPlacementReply
)
