// Command grant is the command-line companion of the grant GORM plugin.
//
//	grant demo [--dir DIR]                 a tour of grant's routing on SQLite files
//	grant status [--config F] [--json]     check every node of a topology file
//	grant migrate up|down|status|new NAME  migrations per database and shard
//	      [--config F] [--database NAME] [--parallel N] [--dry-run]
//
// Install it as a tool of your module (the CLI and the library are one
// module, so one version in go.mod serves both), and run it with go tool:
//
//	go get -tool github.com/grant-go/grant/cmd/grant
//	go tool grant status
//
// Each subcommand lives in its own file and is added by newRootCmd.
package main

import (
	"os"

	"github.com/spf13/cobra"

	_ "github.com/grant-go/grant/adapter/mysql"           // the CLI reads topologies of both
	_ "github.com/grant-go/grant/adapter/postgres"        // (grant links no driver itself)
	_ "github.com/grant-go/grant/sharding/scatter/engine" // the demo's grant.AllShards
)

func main() {
	if err := newRootCmd().Execute(); err != nil {
		// cobra has already printed "Error: ..." to stderr.
		os.Exit(1)
	}
}

// newRootCmd builds the whole command tree. It is a function, not a package
// variable, so that tests get a fresh tree with their own args and output.
func newRootCmd() *cobra.Command {
	root := &cobra.Command{
		Use:   "grant",
		Short: "Tools for the grant multi-database GORM plugin",
		Long: `grant is the command-line companion of github.com/grant-go/grant, a GORM
plugin that gives one *gorm.DB many named databases, each with a writer,
replicas and custom roles, and routes every statement to the right one.

Run "grant demo" to watch the routing happen on throwaway SQLite files,
"grant status" to check the nodes of a topology file (grant.yml), and
"grant migrate" to migrate every database and shard it names.`,
		// A failing run reports its error; the usage text is for bad flags.
		SilenceUsage: true,
		// "grant completion bash" still works; it just stays out of the list.
		CompletionOptions: cobra.CompletionOptions{HiddenDefaultCmd: true},
	}
	root.AddCommand(newDemoCmd(), newStatusCmd(), newMigrateCmd(), newReshardCmd())
	return root
}
