//go:build race

package fakeupstream

const raceEnabled = true
