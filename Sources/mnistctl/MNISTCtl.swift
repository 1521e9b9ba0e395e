import ArgumentParser
import ControlProtocol

@main
struct MNISTCtl: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "mnistctl",
        abstract: "Train, evaluate and run the mnistd digit classifier.",
        discussion: """
            Offline: train, eval, predict and samples work on files, without a daemon.

            Online: status, metrics, retrain, models, rollback, reload and classify talk to a running mnistd \
            over its control socket (--socket; default /run/mnistd/control.sock when it exists, else \
            ./var/mnistd.sock), one JSON object per line each way. Only root, the daemon's user and \
            members of its socket group are served. --json prints the daemon's reply as it is.
            """,
        version: mnistdVersion,
        subcommands: [Train.self, Eval.self, Predict.self, Samples.self, Status.self, Metrics.self, Retrain.self, Models.self, Rollback.self, Reload.self, Classify.self]
    )
}
