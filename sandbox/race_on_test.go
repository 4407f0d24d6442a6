//go:build race

package sandbox

// raceEnabled: the race detector multiplies memory and slows goja, so the
// large-heap test holds less.
const raceEnabled = true
