// SPDX-License-Identifier: MIT
pragma solidity ^0.8.30;

/// @title ERC1271Wallet
/// @notice A minimal smart-contract wallet for the token's ERC-1271 tests: it accepts a hash as
/// signed when `owner` signed it (65-byte r, s, v ECDSA), as a one-owner Safe would.
contract ERC1271Wallet {
    /// @notice The EOA whose signatures the wallet accepts.
    address public immutable owner;

    /// @param owner_ The EOA whose signatures the wallet accepts.
    constructor(address owner_) {
        owner = owner_;
    }

    /// @notice ERC-1271: 0x1626ba7e when `owner` signed `hash`, 0xffffffff otherwise.
    /// @param hash The signed digest.
    /// @param signature r, s, v (65 bytes).
    /// @return magicValue The ERC-1271 answer.
    function isValidSignature(bytes32 hash, bytes calldata signature) external view returns (bytes4 magicValue) {
        if (signature.length != 65) return 0xffffffff;
        bytes32 r = bytes32(signature[0:32]);
        bytes32 s = bytes32(signature[32:64]);
        uint8 v = uint8(signature[64]);
        address signer = ecrecover(hash, v, r, s);
        return signer != address(0) && signer == owner ? bytes4(0x1626ba7e) : bytes4(0xffffffff);
    }
}
