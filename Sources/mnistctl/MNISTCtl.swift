import ArgumentParser

@main
struct MNISTCtl: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "mnistctl",
        abstract: "Train, evaluate and run the mnistd digit classifier.",
        subcommands: [Train.self, Eval.self, Predict.self, Samples.self, Status.self, Retrain.self, Models.self, Rollback.self, Reload.self, Classify.self]
    )
}
