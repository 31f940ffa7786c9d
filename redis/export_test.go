package redis

// Exported for the tests of package redis_test only.
var (
	EncodeSession = encodeSession
	DecodeSession = decodeSession
)

// SlideStep is how far a deadline must move before UseSession rewrites it.
const SlideStep = slideStep

// LuaSources are the Lua scripts as sent to Redis.
var LuaSources = map[string]string{"use": useSource, "fill": fillSource}
