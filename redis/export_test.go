package redis

// Exported for the tests of package redis_test only.
var (
	EncodeSession = encodeSession
	DecodeSession = decodeSession
)
