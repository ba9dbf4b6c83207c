// SPDX-License-Identifier: MIT
pragma solidity ^0.8.30;

/// @title WrongUUIDImplementation
/// @notice Test-only upgrade target whose proxiableUUID is not the ERC-1967 implementation slot,
/// which UUPSUpgradeable refuses with UUPSUnsupportedProxiableUUID.
contract WrongUUIDImplementation {
    function proxiableUUID() external pure returns (bytes32) {
        return bytes32(uint256(1));
    }
}
