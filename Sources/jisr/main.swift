print("jisr")
