package command

// Command subjects: the requests each service serves. They are part of the
// contract between services, so they are named once, here.
const (
	VolumeCreate = "ballast.cmd.volume.create" // CreateVolumeRequest → CommandReply
	VolumeResize = "ballast.cmd.volume.resize" // ResizeVolumeRequest → CommandReply
	VolumeDelete = "ballast.cmd.volume.delete" // DeleteVolumeRequest → CommandReply
	VolumeRepair = "ballast.cmd.volume.repair" // RepairVolumeRequest → CommandReply
	// VolumeReplicas changes a ready volume's replica set; services send
	// it, not users.
	VolumeReplicas = "ballast.cmd.volume.replicas" // ChangeReplicaSetRequest → CommandReply

	MigrationRequest = "ballast.cmd.migration.request" // RequestMigrationRequest → MigrationReply (placement sends it)
	MigrationCancel  = "ballast.cmd.migration.cancel"  // CancelMigrationRequest → MigrationReply
	MigrationGet     = "ballast.cmd.migration.get"     // GetMigrationRequest → MigrationReply
	MigrationAll     = "ballast.cmd.migration.all"     // ListMigrationsRequest → ListMigrationsResponse

	PlacementExplain = "ballast.cmd.placement.explain" // ExplainPlacementRequest (name: the volume id) → ExplainPlacementReply
	NodeState        = "ballast.cmd.node.state"        // SetNodeStateRequest → SetNodeStateReply (served by placement)
	PlacementMove    = "ballast.cmd.placement.move"    // MoveReplicaCommand → MigrationReply
	PlacementPlan    = "ballast.cmd.placement.plan"    // PlanRebalanceRequest → PlanRebalanceReply
)

// AgentCopy is where the agent of a node takes copies for moves onto it:
// CopyReplicaRequest → CommandReply. Every agent process listens on
// AgentCopyAll and answers for the nodes it speaks for.
func AgentCopy(node string) string { return "ballast.cmd.agent." + node + ".copy" }

// AgentCopyAll matches AgentCopy of every node.
const AgentCopyAll = "ballast.cmd.agent.*.copy"

// AgentSim is where the agent of a simulated node takes the simulator's
// commands (fail, recover): SimNodeCommand → CommandReply.
func AgentSim(node string) string { return "ballast.cmd.agent." + node + ".sim" }

// AgentSimAll matches AgentSim of every node.
const AgentSimAll = "ballast.cmd.agent.*.sim"

// AgentGrow is where the agent process named agent takes the simulator's
// request to add nodes to its fleet: SimGrowCommand → SimGrowReply.
func AgentGrow(agent string) string { return "ballast.cmd.agents." + agent + ".grow" }
