//go:build !race

package fakeupstream

const raceEnabled = false
