package sandbox

// installGlobals puts the hook globals on a fresh runtime.
func (c *call) installGlobals() {
	g := c.vm.GlobalObject()
	_ = g.Set("console", c.newConsole())
	_ = g.Set("secrets", c.newSecrets())
}
