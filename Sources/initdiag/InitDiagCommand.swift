import ArgumentParser
import InitDiag

@main
struct InitDiagCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "initdiag",
        abstract: "Find out why a deep net will not train: run it with exact Caffe semantics, record every layer, sweep initialisations, report the cause.",
        version: initdiagVersion,
        subcommands: [])
}
