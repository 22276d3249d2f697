import ArgumentParser
import InitDiag

struct Inspect: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Build a net without data and show every layer, its top shapes and each learnable blob's filler.",
        discussion: """
        For every learnable blob: its shape, the filler Caffe would use, fan_in and fan_out as Caffe \
        computes them (count/shape(0) and count/shape(1)), and the variance the filler gives. This \
        is where a Caffe `xavier` bias filler shows up: on a 1-D bias fan_in is 1, so it gives \
        U(±1.732), variance 1.0, at every width.

        A Data layer's record shape comes from --input-shape, else from the first Datum of its \
        data_param.source when that DB exists, else it is assumed (the source's name, crop_size, \
        mean_file; CIFAR-10's 3×32×32 otherwise); the first output line says which shape and why.
        """)

    @Option(help: "The net, a Caffe prototxt (NetParameter text format). A solver prototxt is accepted too: its net is inspected.")
    var net: String?

    @Argument(help: ArgumentHelp("The net, as --net (kept for `initdiag inspect NET.prototxt`).", valueName: "net"))
    var netPath: String?

    @Option(help: "Which phase's layers to build: train or test.")
    var phase: PhaseOption = .train

    @Option(help: "Show the fillers of a scheme instead of the declared ones, e.g. 'w=caffe-msra,b=zero' (see `initdiag sweep --help`).")
    var scheme: String?

    @Option(help: "The record shape of the data layers, C,H,W (e.g. 1,28,28 for MNIST), before the crop.")
    var inputShape: String?

    @Flag(help: "Print one JSON object instead of the table.")
    var json = false

    func validate() throws {
        if net == nil && netPath == nil { throw ValidationError("give the net: --net NET.prototxt (or NET.prototxt)") }
        if net != nil && netPath != nil && net != netPath { throw ValidationError("give the net once: --net or a path, not both") }
    }

    func run() throws {
        let path = net ?? netPath ?? ""
        let param: NetParameter
        do {
            let loaded = try NetSource.load(path: path)
            for n in loaded.notes { note(n) }
            param = loaded.net
        } catch let netError as InputError {
            // A solver given where a net belongs: say so and inspect the net it names.
            guard let (solver, _) = try? Prototxt.loadSolver(path: path),
                  solver.net != nil || solver.trainNet != nil || solver.netParam != nil || solver.trainNetParam != nil else { throw netError }
            let setup = try RunSetup.load(solverPath: path, netPath: nil, data: nil, scheme: Scheme(), seed: nil, batchSize: nil)
            let named = setup.net.sourcePath.isEmpty ? "given inline (net_param)" : setup.net.sourcePath
            note("\(path) is a solver file; its net is \(named) (inspecting that)")
            param = setup.net
        }
        let s = try scheme.map { try Scheme(parsing: $0) } ?? Scheme()
        let inspection = try NetInspection(param: param, phase: phase.phase, scheme: s,
                                           inputShape: try inputShape.map(RecordShape.parse))
        say(json ? inspection.json() : inspection.table(), terminator: json ? "\n" : "")
    }
}

enum PhaseOption: String, ExpressibleByArgument, CaseIterable {
    case train, test
    var phase: Phase { self == .train ? .TRAIN : .TEST }
}
