// Package tools pins the code generators used by `make proto`. It lives outside go.work so
// that their dependency versions do not leak into the service modules; build it with
// GOWORK=off.
package tools
