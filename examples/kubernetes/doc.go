// Package kubernetes holds the Kubernetes manifests that deploy the example
// service (examples/basic) beside the mackerel-container-agent sidecar, and
// the test that renders them with kustomize and checks them against the
// Kubernetes API types and the agent's configuration rules.
//
// It is a module of its own so that kustomize and k8s.io/api never become
// dependencies of the komachi library. There is no Go API here: the
// manifests are the product.
package kubernetes
