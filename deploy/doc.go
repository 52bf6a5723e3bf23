// Package deploy holds what runs resolverd in production and watches it:
// the systemd unit and production Corefile, the container image, the
// Kubernetes manifests, the Prometheus rules and the Grafana dashboard. Its
// only Go code is the tests that check those artefacts and the references
// between them (test/e2e checks the rules and the dashboard against a real
// node's metrics).
package deploy
