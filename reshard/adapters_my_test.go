package reshard

// testdb redacts DSNs through the adapters' registrations.
import _ "github.com/grant-go/grant/adapter/mysql"
