//go:build !linux

package analyzer

func processCPU() (int64, bool) { return 0, false }
