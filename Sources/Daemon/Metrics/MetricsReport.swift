#if canImport(Glibc)
import Glibc
import Classification
import ControlProtocol
import Metrics
import NeuralNet
#endif

/// The daemon's metrics in the Prometheus text format, for the metrics file (node_exporter's
/// textfile collector) and `mnistctl metrics`: read from the pieces at the moment of asking.
/// Every series a dashboard or an alert may use is written from the start, at zero, so that
/// `rate()` and `increase()` see its first change.
final class MetricsReport: Sendable {
    let counters: DaemonCounters
    let queue: WorkQueue
    let models: ModelHolder
    let retrainer: Retrainer
    /// Seconds since the Unix epoch.
    let startTime: Double

    init(counters: DaemonCounters, queue: WorkQueue, models: ModelHolder, retrainer: Retrainer) {
        self.counters = counters
        self.queue = queue
        self.models = models
        self.retrainer = retrainer
        var now = timespec()
        clock_gettime(CLOCK_REALTIME, &now)
        startTime = Double(now.tv_sec) + Double(now.tv_nsec / 1_000_000) / 1000
    }

    /// The exposition; `running` is false for the last one written at a clean stop.
    func text(running: Bool = true) -> String {
        let snapshot = counters.current
        var out = Exposition()
        out.gauge("mnistd_up", help: "1 while mnistd runs; 0 once it has stopped cleanly.", running ? 1 : 0)
        out.gauge("mnistd_build_info", help: "The version, and which code runs 8-bit inference on this CPU (avx512_vnni, avx2 or portable).",
                  [([("version", mnistdVersion), ("inference", QuantizedNetwork.kernelIdentifier)], 1)])
        out.gauge("mnistd_start_time_seconds", help: "When this mnistd started, in seconds since the Unix epoch.", startTime)
        out.counter("mnistd_files_classified_total", help: "Input files classified: a CSV was published in the outbox.",
                    Double(snapshot.filesClassified))
        out.counter("mnistd_files_failed_total", help: "Input files rejected, by reason: moved to failed/ beside a .error file.",
                    FailureClass.allCases.map { ([("reason", $0.label)], Double(snapshot.filesFailed[$0] ?? 0)) })
        out.counter("mnistd_images_total", help: "Images classified, by status: ok (labelled), uncertain (below the minimum confidence), empty (no ink).",
                    Prediction.Status.allCases.map { ([("status", $0.rawValue)], Double(snapshot.images[$0] ?? 0)) })
        out.counter("mnistd_input_bytes_total", help: "Bytes of the input files classified.", Double(snapshot.inputBytes))
        out.histogram("mnistd_file_latency_seconds", help: "From an input's claim to its published report, in seconds.", snapshot.fileLatency)
        out.histogram("mnistd_forward_pass_seconds", help: "Classifying one batch of decoded inputs (the network's forward passes), in seconds.",
                      snapshot.forwardPass)
        out.gauge("mnistd_queue_depth", help: "Inbox names waiting for the classifier.", Double(queue.depth))
        out.gauge("mnistd_claimed_inputs", help: "Inputs claimed and not yet finished (being classified, written, or waiting for the disk).",
                  Double(snapshot.claimedInputs))
        out.gauge("mnistd_set_aside_inputs", help: "Inputs whose results the disk refused, waiting for a retry.", Double(snapshot.setAsideInputs))
        out.counter("mnistd_commit_refusals_total", help: "Commits of results the disk refused (full, read-only, removed, permissions).",
                    Double(snapshot.commitRefusals))
        out.counter("mnistd_inotify_overflows_total", help: "Times the kernel's inotify queue overflowed (the inbox is then rescanned).",
                    Double(snapshot.inotifyOverflows))
        out.counter("mnistd_inbox_rescans_total", help: "Scans of the whole inbox (at start, after an overflow, a full queue or the inbox's return).",
                    Double(snapshot.inboxRescans))
        out.counter("mnistd_claims_adopted_total", help: "Inputs taken over from other instances on a shared inbox whose lease lapsed, to be finished here.",
                    Double(snapshot.claimsAdopted))
        out.counter("mnistd_claims_lost_total", help: "Inputs of this instance another one took over while this one's lease had lapsed (answered there, not here).",
                    Double(snapshot.claimsLost))
        model(&out)
        retraining(&out)
        return out.text
    }

    private func model(_ out: inout Exposition) {
        let model = models.current
        let stored = model.stored(active: true)
        out.gauge("mnistd_model_info", help: "The model in use: its id, kind and the precision its inference runs in.",
                  [([("id", model.id), ("kind", stored.kind.rawValue), ("precision", model.quantized == nil ? "float32" : "int8")], 1)])
        // Absent rather than made up when the model does not say.
        if let accuracy = stored.accuracy {
            out.gauge("mnistd_model_accuracy_ratio", help: "The model in use's accuracy on the images it was validated on (0 to 1).", accuracy)
        }
    }

    private func retraining(_ out: inout Exposition) {
        let progress = retrainer.progress
        let outcomes = retrainer.outcomes
        let phases = ["idle"] + RetrainingProgress.Phase.allCases.map(\.rawValue)
        let phase = progress?.phase.rawValue ?? "idle"
        out.gauge("mnistd_retraining_phase", help: "Where the running or last retraining stands: 1 for its phase (idle before any).",
                  phases.map { ([("phase", $0)], $0 == phase ? 1 : 0) })
        out.gauge("mnistd_retraining_epoch", help: "The running or last retraining's current epoch.", Double(progress?.epoch ?? 0))
        out.gauge("mnistd_retraining_epochs", help: "The running or last retraining's number of epochs.", Double(progress?.epochs ?? 0))
        out.gauge("mnistd_retraining_progress_ratio", help: "The share of the running or last retraining's batches done (0 to 1).",
                  progress?.fractionDone ?? 0)
        out.counter("mnistd_retrainings_total", help: "Retrainings ended, by result: finished (swapped in), refused (by the gate or the dataset), failed.",
                    [RetrainingProgress.Phase.finished, .refused, .failed].map { ([("result", $0.rawValue)], Double(outcomes[$0] ?? 0)) })
    }
}
