package delivery

import "time"

// SetIdleHook makes d call f, from its dispatcher, each time nothing is in
// flight, with when it would next wake (zero: not by itself); f may move
// a fake clock there. Set before Start.
func SetIdleHook(d *Deliverer, f func(next time.Time)) { d.idle = f }
